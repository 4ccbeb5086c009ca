import sys, time, os, datetime as dt, statistics
sys.path.insert(0, os.getcwd())
from loadtest.seed import open_bench_store
from engine.query.run import settings
store=open_bench_store('/work/bench/d100')
days=[dt.date(2026,10,31)+dt.timedelta(days=i) for i in range(29)]
P={'site':1,'rollup_dim':'source|page','r_day0':days[0],'r_day1':days[-1],'r_days':days,'p10':'Google'}
W="site_id = {site:UInt32} AND dim = {rollup_dim:String} AND grain = 1 AND bucket >= {r_day0:Date} AND bucket <= {r_day1:Date}"
for line in open(sys.argv[1]).read().split('\n;\n'):
    s=line.strip().replace('$W',W)
    if not s: continue
    if s.startswith('!'):
        store.command(s[1:],P); print('cmd',s[:80]); continue
    ts=[]
    for i in range(5):
        t0=time.perf_counter(); r=store.rows(s,P,settings=settings(store)); ts.append((time.perf_counter()-t0)*1000)
    print(round(statistics.median(ts)), round(max(ts)), str(r[:2])[:100], '<-', s[:150])
print('load', os.getloadavg())
