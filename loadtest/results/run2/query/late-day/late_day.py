import sys, time, os, json, datetime as dt, statistics
sys.path.insert(0, os.getcwd())
from loadtest.bench_query import dashboard, read_manifest
from loadtest.seed import open_bench_store
from engine.sites import Site
from engine.query.run import run_query_sync
D='/work/bench/d100'
m=read_manifest(D); ch=max(m['sites'], key=lambda s:s.get('events',0))
store=open_bench_store(D)
site=Site(ch['site_id'],ch['domain'],ch['timezone'])
print('load', os.getloadavg())
out={}
for label, now in (("10:38 (bench)", dt.datetime.fromisoformat(m['seeded_until'])), ("23:30 the day before", dt.datetime(2026,11,28,23,30,tzinfo=dt.UTC))):
    for spec in dashboard():
        if spec.group not in ('30d','filtered'): continue
        run_query_sync(store, site, spec.body(), now=now)
        ts=[]
        for i in range(9):
            t0=time.perf_counter(); run_query_sync(store, site, spec.body(), now=now); ts.append((time.perf_counter()-t0)*1000)
        ts.sort()
        out.setdefault(f"{spec.group}/{spec.name}", {})[label]=(round(statistics.median(ts),1), round(ts[-1],1))
print(store.rows("SELECT countIf(toDate(timestamp)=toDate('2026-11-28')), countIf(toDate(timestamp)=toDate('2026-11-29')) FROM events WHERE site_id={s:UInt32} AND timestamp >= toDateTime64('2026-11-28 00:00:00',3,'UTC')", {"s": site.site_id}))
for k,v in out.items(): print(f"{k:45s}", v)
print('load', os.getloadavg())
