#!/bin/bash
# A/B bulk seed throughput: main without the rollup (old) vs the issue-9 branch (new), 1 core each, interleaved.
for round in 1 2; do
  for side in old new; do
    dir=/work/bench/ab-$side-$round; rm -rf $dir
    if [ $side = old ]; then cd /work/wt9old; else cd /work/wt9; fi
    PYTHONPATH=$PWD /work/wt9/.venv/bin/python -m loadtest seed --cpus 1 --events 1M --days 60 --sites 3 \
      --data-dir $dir --results /work/bench/ab-results-$side-$round --no-progress \
      --geoip /work/main/data/geo/dbip-city-lite.mmdb > /work/bench/ab-$side-$round.log 2>&1
    rm -rf $dir
  done
done
