/** The folder holding package.json, web/ and models/ (defaults are resolved against it, not the working directory). */
import { fileURLToPath } from 'node:url';

export const projectRoot = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
