// The UI's only view-layer imports: Preact + htm as native ES modules served from /vendor/ (no build step).
import { h, render } from '/vendor/preact.mjs';
import { useCallback, useEffect, useMemo, useRef, useState } from '/vendor/preact-hooks.mjs';
import htm from '/vendor/htm.mjs';

export const html = htm.bind(h);
export { render, useCallback, useEffect, useMemo, useRef, useState };
