set -x
cd /work/wt12
S=loadtest/results/run2/ingest/quiet/run-variant.sh; Q=/work/wt12/loadtest/results/run2/ingest/quiet
bash $S /work/wt12old $Q/before-2 load
bash $S /work/wt12 $Q/after-1 load
bash $S /work/wt12old $Q/import-before-1M import data/history-1M.ndjson.gz
bash $S /work/wt12 $Q/import-after-1M import data/history-1M.ndjson.gz
echo ALLDONE
