/**
 * Child servers for the benchmark: spawn `tsx <script>`, wait until an HTTP check answers,
 * find the node process that actually serves (tsx's CLI is a wrapper that spawns a second
 * node with its loader), read that process's RSS, and stop the tree.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import net from "node:net";
import path from "node:path";

const LOG_TAIL_LINES = 40;

export interface ChildServer {
  readonly name: string;
  readonly port: number;
  readonly baseUrl: string;
  /** The tsx wrapper we spawned. */
  readonly wrapperPid: number;
  /** The node process listening on the port (set by waitUntilReady). */
  serverPid: number | undefined;
  /** Lines the child wrote to stdout/stderr, all of them counted, the last few kept. */
  readonly output: { lines: number; tail: string[] };
  readonly process: ChildProcess;
  /** Resolves with the exit code/signal once the wrapper exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** A port nothing listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      const port = typeof address === "object" && address ? address.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error("could not pick a free port"))));
    });
  });
}

export function startTsxServer(options: { name: string; root: string; script: string; port: number; env: Record<string, string> }): ChildServer {
  const tsxBin = path.join(options.root, "node_modules", ".bin", "tsx");
  // BENCH_CPU_PROFILE_DIR=<dir>: run the server as `node --cpu-prof --import tsx` (one process,
  // no wrapper) so it writes a V8 CPU profile there when it stops.
  const profileDir = process.env.BENCH_CPU_PROFILE_DIR;
  const [command, args] = profileDir
    ? [process.execPath, ["--cpu-prof", `--cpu-prof-dir=${profileDir}`, "--import", "tsx", options.script]]
    : [tsxBin, [options.script]];
  const child = spawn(command, args, {
    cwd: options.root,
    env: { ...process.env, ...options.env, PORT: String(options.port), HOST: "127.0.0.1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (child.pid === undefined) throw new Error(`${options.name}: could not spawn ${command}`);
  const output = { lines: 0, tail: [] as string[] };
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString("utf8").split("\n")) {
      if (!line.trim()) continue;
      output.lines++;
      output.tail.push(line.length > 400 ? `${line.slice(0, 400)}…` : line);
      if (output.tail.length > LOG_TAIL_LINES) output.tail.shift();
    }
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });
  return {
    name: options.name,
    port: options.port,
    baseUrl: `http://127.0.0.1:${options.port}`,
    wrapperPid: child.pid,
    serverPid: undefined,
    output,
    process: child,
    exited,
  };
}

/**
 * Polls `checkPath` until it answers 200, then finds the serving pid. Fails with the child's
 * last output when the child exits first or `timeoutMs` passes.
 */
export async function waitUntilReady(server: ChildServer, checkPath: string, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitedWith: string | undefined;
  void server.exited.then(({ code, signal }) => (exitedWith = signal ?? `code ${code}`));
  let lastProblem = "no answer yet";
  while (Date.now() < deadline) {
    if (exitedWith) break;
    try {
      const response = await fetch(`${server.baseUrl}${checkPath}`, { signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      if (response.status === 200) {
        server.serverPid = findListeningPid(server.wrapperPid, server.port) ?? deepestNodeDescendant(server.wrapperPid);
        return;
      }
      lastProblem = `HTTP ${response.status}`;
    } catch (err) {
      lastProblem = (err as Error).message;
    }
    await sleep(250);
  }
  const why = exitedWith ? `exited (${exitedWith}) before it was ready` : `not ready after ${timeoutMs / 1000} s (${lastProblem})`;
  throw new Error(`${server.name} ${why}. Its last output:\n${server.output.tail.map((l) => `  | ${l}`).join("\n") || "  (none)"}`);
}

/** SIGTERM to the wrapper (tsx relays it) and the server; SIGKILL after `graceMs`. */
export async function stopServer(server: ChildServer, graceMs = 5000): Promise<void> {
  const pids = [server.serverPid, server.wrapperPid].filter((p): p is number => p !== undefined);
  if (server.process.exitCode !== null || server.process.signalCode !== null) {
    for (const pid of pids) signal(pid, "SIGKILL");
    return;
  }
  for (const pid of pids) signal(pid, "SIGTERM");
  const done = await Promise.race([server.exited.then(() => true), sleep(graceMs).then(() => false)]);
  if (!done) for (const pid of pids) signal(pid, "SIGKILL");
  // The wrapper may exit before the server it relayed to; make sure that one is gone too.
  if (server.serverPid !== undefined && server.serverPid !== server.wrapperPid) {
    const until = Date.now() + graceMs;
    while (isAlive(server.serverPid) && Date.now() < until) await sleep(100);
    if (isAlive(server.serverPid)) signal(server.serverPid, "SIGKILL");
  }
}

/** Resident set size of `pid` in bytes (VmRSS in /proc/<pid>/status). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ");
  } catch {
    return "?";
  }
}

/** `pid` and every process below it, parents before children, with their depth. */
function descendants(pid: number): Array<{ pid: number; depth: number }> {
  const found: Array<{ pid: number; depth: number }> = [{ pid, depth: 0 }];
  for (let i = 0; i < found.length; i++) {
    const { pid: parent, depth } = found[i]!;
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${parent}/task`);
    } catch {
      continue;
    }
    for (const task of tasks) {
      let children = "";
      try {
        children = readFileSync(`/proc/${parent}/task/${task}/children`, "utf8");
      } catch {
        continue;
      }
      for (const child of children.trim().split(/\s+/).filter(Boolean)) found.push({ pid: Number(child), depth: depth + 1 });
    }
  }
  return found;
}

/** The process in the tree under `rootPid` that holds the listening socket on 127.0.0.1:`port`. */
function findListeningPid(rootPid: number, port: number): number | undefined {
  const inodes = listeningInodes(port);
  if (inodes.size === 0) return undefined;
  for (const { pid } of descendants(rootPid).reverse()) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
        if (inode && inodes.has(inode)) return pid;
      } catch {
        // fd closed meanwhile
      }
    }
  }
  return undefined;
}

/** Inodes of sockets in state LISTEN on `port` (/proc/net/tcp and tcp6). */
function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  const portHex = port.toString(16).toUpperCase().padStart(4, "0");
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      // sl local_address rem_address st tx:rx tr:tm retrnsmt uid timeout inode
      if (cols.length < 10 || cols[3] !== "0A") continue;
      if (cols[1]?.split(":")[1] === portHex) inodes.add(cols[9]!);
    }
  }
  return inodes;
}

/** Fallback: the deepest node process under `rootPid` (the tsx wrapper's own child). */
function deepestNodeDescendant(rootPid: number): number {
  const nodeExe = safeRealExe(process.pid);
  const nodes = descendants(rootPid).filter(({ pid }) => safeRealExe(pid) === nodeExe);
  nodes.sort((a, b) => b.depth - a.depth);
  return nodes[0]?.pid ?? rootPid;
}

function safeRealExe(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return undefined;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
