/**
 * Load generators that run in a worker thread of the benchmark's own file, so the server under
 * test keeps the main event loop to itself.
 */
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";

/** In the worker thread (and only there): runs `generate` on the job and posts its result. */
export function serveLoadInWorker<Job, Result>(generate: (job: Job) => Promise<Result>): void {
  if (isMainThread) return;
  generate(workerData as Job).then(
    (result) => parentPort!.postMessage({ result }),
    (err: Error) => parentPort!.postMessage({ error: err.stack ?? err.message }),
  );
}

/** Runs the module at `moduleUrl` (which calls `serveLoadInWorker`) in a worker on `job`. */
export function runInWorker<Job, Result>(moduleUrl: string, job: Job): Promise<Result> {
  // tsx's loader does not reach worker threads by itself: register it, then load the module.
  const bootstrap = `import("tsx/esm/api").then((tsx) => { tsx.register(); return import(${JSON.stringify(moduleUrl)}); })`;
  return new Promise((resolve, reject) => {
    const worker = new Worker(bootstrap, { eval: true, workerData: job });
    worker.once("message", (message: { result?: Result; error?: string }) => {
      void worker.terminate();
      if (message.result) resolve(message.result);
      else reject(new Error(`load generator failed: ${message.error}`));
    });
    worker.once("error", reject);
  });
}
