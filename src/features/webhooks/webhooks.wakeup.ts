/** A sleep that an explicit wake ends early; a wake while nobody sleeps is kept for the next sleep. */
export class Wakeup {
  private pending = false;
  private release?: () => void;

  wake(): void {
    if (this.release) {
      const release = this.release;
      this.release = undefined;
      release();
    } else {
      this.pending = true;
    }
  }

  /** Resolves after `ms`, or at the next wake (at once if one came since the last sleep). */
  sleep(ms: number): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.release = undefined;
        resolve();
      }, ms);
      this.release = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

export const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
