-- rollup_pairs was copied into rollup_pairs_v2 by 0013 (sorted by value before day). A separate
-- migration so that 0013 can be re-run after an interruption (its copy reads this table).
DROP TABLE IF EXISTS rollup_pairs
