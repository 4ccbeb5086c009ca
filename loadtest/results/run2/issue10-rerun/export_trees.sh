#!/bin/bash
# A: HEAD of issue10; B: HEAD with the Python threads not lowered (statements still are).
set -e
cd /tmp/wt10-ab && rm -rf A B && mkdir A B
git -C /work/wt10 archive HEAD | tar -x -C A
git -C /work/wt10 archive HEAD | tar -x -C B
sed -i 's/^    """Lower the calling thread.s CPU priority to BACKGROUND_NICE."""$/&\n    return  # A\/B: Python threads not lowered/' B/engine/priority.py
grep -n "A/B" B/engine/priority.py
cd B && /work/wt10/.venv/bin/python -c "import engine.priority as p, server.app; print(p.__file__, server.app.__file__)"
