"""Draws the soak's figure (scripts/soak.sh --plot): the demo's resident memory and Redis's
clients, req/s, and p99 latency over the run, with the Redis events marked.

    python3 scripts/soak-plot.py OUT DURATION     # reads OUT/load.csv, OUT/samples.csv

Writes OUT/soak.png. Needs matplotlib (scripts/soak.sh installs it in a virtualenv under
target/ when the system's python3 lacks it).
"""

import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# The events at the phase boundaries scripts/soak.sh sets (ten equal phases).
EVENTS = {2: "Redis restarted", 4: "Redis frozen (SIGSTOP)", 5: "SIGCONT", 7: "Redis restarted"}


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def number(text):
    return float(text) if text not in ("", None) else float("nan")


def main():
    out, duration = sys.argv[1], float(sys.argv[2])
    load = rows(f"{out}/load.csv")
    samples = rows(f"{out}/samples.csv")

    fig, (memory, rate, latency) = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    t = [number(s["seconds"]) / 60 for s in samples]
    memory.plot(t, [number(s["rss_kib"]) / 1024 for s in samples], color="tab:blue", label="demo RSS (MiB)")
    memory.set_ylabel("RSS (MiB)")
    memory.set_ylim(bottom=0)
    clients = memory.twinx()
    clients.plot(t, [number(s["redis_clients"]) for s in samples], color="tab:gray", ls=":", label="Redis clients")
    clients.set_ylabel("Redis clients")
    clients.set_ylim(bottom=0)
    memory.legend(loc="upper left")
    clients.legend(loc="lower right")

    tl = [number(r["seconds"]) / 60 for r in load]
    rate.plot(tl, [number(r["req_per_s"]) for r in load], color="tab:green")
    rate.set_ylabel("requests / s")
    rate.set_ylim(bottom=0)
    latency.plot(tl, [number(r["p99_ms"]) for r in load], color="tab:red", label="p99")
    latency.plot(tl, [number(r["p50_ms"]) for r in load], color="tab:orange", label="p50")
    latency.set_ylabel("latency (ms)")
    latency.set_yscale("log")
    latency.legend(loc="upper left")
    latency.set_xlabel("minutes")

    for boundary, label in EVENTS.items():
        at = duration * boundary / 10 / 60
        for axis in (memory, rate, latency):
            axis.axvline(at, color="black", lw=0.8, ls="--")
        memory.annotate(label, (at, 0), xytext=(3, 3), textcoords="offset points", rotation=90, fontsize=8)
    if EVENTS.get(4):
        for axis in (memory, rate, latency):
            axis.axvspan(duration * 4 / 10 / 60, duration * 5 / 10 / 60, color="gray", alpha=0.15)

    unexpected = sum(int(r["unexpected"]) for r in load)
    requests = sum(int(r["requests"]) for r in load)
    fig.suptitle(f"demo-api soak: {requests:,} requests, {unexpected} unexpected answers")
    fig.tight_layout()
    fig.savefig(f"{out}/soak.png", dpi=90)
    print(f"{out}/soak.png")


if __name__ == "__main__":
    main()
