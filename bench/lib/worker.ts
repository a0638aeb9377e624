/**
 * Load generators that run in a worker thread of the benchmark's own file, so the server under
 * test keeps the main event loop to itself.
 */
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";

/**
 * In the worker thread (and only there): runs `generate` on the job and posts its result — or,
 * in a worker started by `startLoadWorker`, on every job it is sent, one after another.
 */
export function serveLoadInWorker<Job, Result>(generate: (job: Job) => Promise<Result>): void {
  if (isMainThread) return;
  const run = (job: Job) =>
    generate(job).then(
      (result) => parentPort!.postMessage({ result }),
      (err: Error) => parentPort!.postMessage({ error: err.stack ?? err.message }),
    );
  if ((workerData as { persistent?: boolean } | null)?.persistent) parentPort!.on("message", (job: Job) => void run(job));
  else void run(workerData as Job);
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
  const worker = new Worker(bootstrapOf(moduleUrl), { eval: true, workerData: { persistent: true } });
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

/** Runs the module at `moduleUrl` (which calls `serveLoadInWorker`) in a worker on `job`. */
export function runInWorker<Job, Result>(moduleUrl: string, job: Job): Promise<Result> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(bootstrapOf(moduleUrl), { eval: true, workerData: job });
    worker.once("message", (message: { result?: Result; error?: string }) => {
      void worker.terminate();
      if (message.result) resolve(message.result);
      else reject(new Error(`load generator failed: ${message.error}`));
    });
    worker.once("error", reject);
  });
}
