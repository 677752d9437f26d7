/**
 * Progress of `sdapi generate` on stderr: a bar redrawn in place on a terminal, one plain line per finished image
 * otherwise (logs and pipes get no control characters).
 */
import type { Io } from './io.ts';

export interface Progress {
  image: number;
  images: number;
  step: number;
  steps: number;
}

const WIDTH = 30;

export class ProgressBar {
  #drawn = false;
  #lastImageReported = -1;

  constructor(
    private readonly io: Io,
    private readonly label: string,
  ) {}

  update(p: Progress): void {
    if (this.io.errStream.isTTY) {
      const done = (p.image * p.steps + p.step) / Math.max(1, p.images * p.steps);
      const filled = Math.round(done * WIDTH);
      const text = `${this.label} [${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}] ${Math.round(done * 100)}% image ${p.image + 1}/${p.images} step ${p.step}/${p.steps}`;
      this.io.errStream.write(`\r\u001b[2K${text}`);
      this.#drawn = true;
    } else if (p.step === p.steps && p.image > this.#lastImageReported) {
      this.#lastImageReported = p.image;
      this.io.err(`${this.label} image ${p.image + 1}/${p.images} done (${p.steps} steps)`);
    }
  }

  /** Ends the bar's line, so later messages start on their own. */
  finish(): void {
    if (this.#drawn) this.io.errStream.write('\n');
    this.#drawn = false;
  }
}
