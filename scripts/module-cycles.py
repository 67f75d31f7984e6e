"""Fails if two modules of the runtime import each other, directly or through others, at any
level (siblings under one parent: `store::redis::commands` and `store::redis::mget`, or two
top-level modules). A child's use of its parent's items (an `impl` split over files, the
`Store` trait its implementations implement) is not an import cycle: the parent declares the
child. Run by scripts/test.sh:

    python3 scripts/module-cycles.py cached-json-runtime/src
"""
import collections
import os
import re
import sys

os.chdir(sys.argv[1])
root='.'
def modpath(f):
    p=f[2:-3].split('/')
    if p[-1] in ('mod','lib'): p=p[:-1]
    return p
files=[os.path.join(dp,f) for dp,_,fs in os.walk(root) for f in fs if f.endswith('.rs')]
mods={tuple(modpath(f)):f for f in files}
def resolve(cur, path):
    # cur: module path (list) of the file; path: list of segments after a `use`/path start
    if path[0]=='crate': base=[]; rest=path[1:]
    elif path[0]=='super':
        base=list(cur); rest=path
        while rest and rest[0]=='super': base=base[:-1]; rest=rest[1:]
    elif path[0]=='self': base=list(cur); rest=path[1:]
    else: return None
    full=base+rest
    # longest existing module prefix
    for n in range(len(full),0,-1):
        if tuple(full[:n]) in mods: return full[:n]
    return base if tuple(base) in mods or base==[] else None
edges=collections.defaultdict(set); up=collections.defaultdict(set)
for f in files:
    if f.endswith('tests.rs') or '/tests/' in f: continue
    cur=modpath(f)
    src=open(f).read().split('#[cfg(test)]')[0]
    src=re.sub(r'//[^\n]*','',src)
    # expand `use a::{b, c::d}` minimally: take paths before braces plus each item
    for m in re.finditer(r'(?<!in )(?<![(])\b((?:crate|super|self)(?:::\w+)*)(?:::\{([^}]*)\})?',src):
        head=m.group(1).split('::')
        items=[head]
        if m.group(2):
            items=[head+[x.strip().split('::')[0].split(' ')[0]] for x in m.group(2).split(',') if x.strip()]
        for it in items:
            tgt=resolve(cur,it)
            if tgt is None or tgt==cur: continue
            if cur[:len(tgt)]==tgt:  # an ancestor
                up[tuple(cur)].add(tuple(tgt)); continue
            # sibling level: common parent
            k=0
            while k<min(len(cur),len(tgt)) and cur[k]==tgt[k]: k+=1
            a=tuple(cur[:k+1]); b=tuple(tgt[:k+1])
            if a!=b and len(b)==k+1: edges[a].add(b)
idx={};low={};st=[];on=set();sccs=[];c=[0]
nodes=set(edges)|{b for v in edges.values() for b in v}
def sc(v):
    idx[v]=low[v]=c[0];c[0]+=1;st.append(v);on.add(v)
    for w in edges[v]:
        if w not in idx: sc(w);low[v]=min(low[v],low[w])
        elif w in on: low[v]=min(low[v],idx[w])
    if low[v]==idx[v]:
        comp=[]
        while True:
            w=st.pop();on.discard(w);comp.append(w)
            if w==v:break
        if len(comp)>1: sccs.append(comp)
for v in sorted(nodes):
    if v not in idx: sc(v)
if sccs:
    for comp in sccs:
        print('import cycle:', ' <-> '.join('::'.join(x) for x in comp))
    sys.exit(1)
print(f'no import cycles among {len(mods)} modules')
