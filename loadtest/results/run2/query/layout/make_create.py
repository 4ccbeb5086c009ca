"""Writes create.sql (source|page test tables) and create_d.sql (source|device) for run_sql.py: copies
of the largest site's pair rows in other layouts. The columns are read from schema/0005 (the
layout the store had then). create.sql and create_d.sql ran before migration 0013 (the rows still in
rollup_pairs), create5.sql after it.

    python loadtest/results/run2/query/layout/make_create.py /tmp/layout
    flock /work/bench/d100.lock .venv/bin/python \\
        loadtest/results/run2/query/layout/run_sql.py /tmp/layout/create.sql
"""

import os
import sys

src = open("schema/0005_rollup_pairs.sql").read()
body = src[src.index("(\n    site_id"):src.index("ENGINE")]
DAY_FIRST = "(site_id, dim, grain, bucket, value, value2)"
VALUE_FIRST = "(site_id, dim, grain, value, bucket, value2)"
ZSTD = "String CODEC(ZSTD(1))"


def table(name: str, dim: str, order: str, granularity: int = 8192, value2: str = ZSTD,
          value: str = ZSTD, source: str = "rollup_pairs") -> str:
    columns = (body.replace("value2                " + ZSTD, "value2 " + value2)
               .replace("value                 " + ZSTD, "value " + value))
    return (f"!DROP TABLE IF EXISTS {name}\n;\n"
            f"!CREATE TABLE {name} {columns} ENGINE = ReplacingMergeTree(version) PARTITION BY "
            f"toYear(bucket) ORDER BY {order} SETTINGS index_granularity={granularity}\n;\n"
            f"!INSERT INTO {name} SELECT * FROM {source} FINAL WHERE site_id=1 AND dim='{dim}'\n;\n"
            f"!OPTIMIZE TABLE {name} FINAL\n;\n")


out = sys.argv[1]
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "create.sql"), "w") as f:
    f.write(table("rp_t0", "source|page", DAY_FIRST)
            + table("rp_t1", "source|page", DAY_FIRST, 1024)
            + table("rp_t2", "source|page", VALUE_FIRST)
            + table("rp_t3", "source|page", DAY_FIRST, 1024, "LowCardinality(String)")
            + table("rp_t4", "source|page", DAY_FIRST, 1024, "String CODEC(LZ4)", "String CODEC(LZ4)"))
with open(os.path.join(out, "create_d.sql"), "w") as f:
    f.write(table("rd_t0", "source|device", DAY_FIRST) + table("rd_t2", "source|device", VALUE_FIRST))
# after migration 0013 (the rows in rollup_pairs_v2): value first, with and without LowCardinality value2
with open(os.path.join(out, "create5.sql"), "w") as f:
    f.write(table("rp_t5", "source|page", VALUE_FIRST, value2="LowCardinality(String)",
                  source="rollup_pairs_v2")
            + table("rp_t6", "source|page", VALUE_FIRST, source="rollup_pairs_v2"))
