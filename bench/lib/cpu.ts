/**
 * Where the machine's CPU went during a run, from /proc: the server under test, PostgreSQL
 * (every `postgres` process), the load generator (this process) and every other process, plus
 * interrupt/softirq/steal time. On a small shared machine "other" says whether a run was
 * disturbed by unrelated work.
 */
import { readdirSync, readFileSync } from "node:fs";

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ: 100 on every mainstream Linux build

export interface CpuSnapshot {
  at: bigint;
  /** Jiffies the whole machine (all CPUs) spent running processes: user+nice+system. */
  machineBusy: number;
  /** Jiffies of all CPUs in interrupts, softirqs (loopback TCP is processed there) and stolen by the hypervisor. */
  machineKernel: number;
  server: number;
  /** Jiffies of every `postgres` process, by pid. */
  postgres: Map<string, number>;
  /** This process (autocannon runs in it), microseconds. */
  generatorMicros: number;
}

/** Each figure in "cores": 1.0 = one CPU fully busy over the run. */
export interface CpuUse {
  server: number;
  postgres: number;
  generator: number;
  /** Every other process on the machine (user + system time not accounted to the three above). */
  other: number;
  /** Interrupts, softirqs and hypervisor steal, machine-wide (not attributable to a process). */
  kernel: number;
  /** Server CPU time per completed request, microseconds. */
  serverMicrosPerRequest: number;
}

function machineJiffies(): { busy: number; kernel: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!;
  const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
  return { busy: (user ?? 0) + (nice ?? 0) + (system ?? 0), kernel: (irq ?? 0) + (softirq ?? 0) + (steal ?? 0) };
}

/** utime+stime of a process (all its threads), in jiffies; 0 when it is gone. */
function processJiffies(pid: number | string): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

function postgresJiffies(): Map<string, number> {
  const byPid = new Map<string, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      if (comm === "postgres") byPid.set(entry, processJiffies(entry));
    } catch {
      // exited meanwhile
    }
  }
  return byPid;
}

/** CPU of postgres processes between two snapshots: ones started meanwhile count whole, ones gone are lost. */
function postgresDelta(before: Map<string, number>, after: Map<string, number>): number {
  let total = 0;
  for (const [pid, jiffies] of after) total += Math.max(0, jiffies - (before.get(pid) ?? 0));
  return total;
}

export function cpuSnapshot(serverPid: number): CpuSnapshot {
  const usage = process.cpuUsage();
  const machine = machineJiffies();
  return {
    at: process.hrtime.bigint(),
    machineBusy: machine.busy,
    machineKernel: machine.kernel,
    server: processJiffies(serverPid),
    postgres: postgresJiffies(),
    generatorMicros: usage.user + usage.system,
  };
}

export function cpuUse(before: CpuSnapshot, after: CpuSnapshot, requests: number): CpuUse {
  const seconds = Number(after.at - before.at) / 1e9;
  const cores = (jiffies: number) => jiffies / CLOCK_TICKS_PER_SECOND / seconds;
  const server = cores(after.server - before.server);
  const postgres = cores(postgresDelta(before.postgres, after.postgres));
  const generator = (after.generatorMicros - before.generatorMicros) / 1e6 / seconds;
  const machine = cores(after.machineBusy - before.machineBusy);
  return {
    server,
    postgres,
    generator,
    other: Math.max(0, machine - server - postgres - generator),
    kernel: cores(after.machineKernel - before.machineKernel),
    serverMicrosPerRequest: requests > 0 ? ((after.server - before.server) / CLOCK_TICKS_PER_SECOND / requests) * 1e6 : Number.NaN,
  };
}

/** CPU jiffies and a short name of every process, for naming what disturbed a run. */
export type ProcessTable = Map<string, { jiffies: number; name: string }>;

export function processTable(): ProcessTable {
  const table: ProcessTable = new Map();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      let name = comm;
      try {
        const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").filter(Boolean);
        if (cmdline.length > 0) name = cmdline.map((a) => a.replace(/^.*\/node_modules\//, "")).join(" ");
      } catch {
        // keep comm
      }
      table.set(entry, { jiffies: Number(fields[11]) + Number(fields[12]), name: name.length > 90 ? `${name.slice(0, 90)}…` : name });
    } catch {
      // exited meanwhile
    }
  }
  return table;
}

/** The processes (other than `exclude`) that used the most CPU between two tables, in cores. */
export function topProcesses(before: ProcessTable, after: ProcessTable, seconds: number, exclude: Set<string>, limit = 3): Array<{ pid: string; name: string; cores: number }> {
  const used: Array<{ pid: string; name: string; cores: number }> = [];
  for (const [pid, { jiffies, name }] of after) {
    if (exclude.has(pid)) continue;
    const delta = jiffies - (before.get(pid)?.jiffies ?? 0);
    if (delta > 0) used.push({ pid, name, cores: delta / CLOCK_TICKS_PER_SECOND / seconds });
  }
  return used.sort((a, b) => b.cores - a.cores).slice(0, limit);
}
