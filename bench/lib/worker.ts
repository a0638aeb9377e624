/**
 * Load generators that run in a worker thread of the benchmark's own file, so the server under
 * test keeps the main event loop to itself.
 */
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";

/** In the worker thread (and only there): runs `generate` on every job it is sent, one after another, and posts each result. */
export function serveLoadInWorker<Job, Result>(generate: (job: Job) => Promise<Result>): void {
  if (isMainThread || !(workerData as { loadWorker?: boolean } | null)?.loadWorker) return;
  parentPort!.on("message", (job: Job) =>
    void generate(job).then(
      (result) => parentPort!.postMessage({ result }),
      (err: Error) => parentPort!.postMessage({ error: err.stack ?? err.message }),
    ),
  );
}

/** tsx's loader does not reach worker threads by itself: register it, then load the module. */
function bootstrapOf(moduleUrl: string): string {
  return `import("tsx/esm/api").then((tsx) => { tsx.register(); return import(${JSON.stringify(moduleUrl)}); })`;
}

/**
 * One worker thread for many jobs, one at a time: its code stays compiled and optimized from
 * one job to the next, as a long-running server's does.
 */
export function startLoadWorker<Job, Result>(moduleUrl: string): { run(job: Job): Promise<Result>; close(): Promise<void> } {
  const worker = new Worker(bootstrapOf(moduleUrl), { eval: true, workerData: { loadWorker: true } });
  let failure: Error | undefined;
  worker.on("error", (err) => (failure = err));
  return {
    run(job) {
      if (failure) return Promise.reject(failure);
      return new Promise((resolve, reject) => {
        const onError = (err: Error) => reject(err);
        worker.once("error", onError);
        worker.once("message", (message: { result?: Result; error?: string }) => {
          worker.off("error", onError);
          if (message.result) resolve(message.result);
          else reject(new Error(`load generator failed: ${message.error}`));
        });
        worker.postMessage(job);
      });
    },
    async close() {
      await worker.terminate();
    },
  };
}

/** Runs the module at `moduleUrl` (which calls `serveLoadInWorker`) on `job` in a thread of its own. */
export async function runInWorker<Job, Result>(moduleUrl: string, job: Job): Promise<Result> {
  const worker = startLoadWorker<Job, Result>(moduleUrl);
  try {
    return await worker.run(job);
  } finally {
    await worker.close();
  }
}
