/** Thread titles: a new thread's is its AI version's; the first request names it after its prompt. */

/** Longest title a person may set (PATCH /threads/{guid}). */
export const THREAD_TITLE_MAX = 100;
/** Titles made from a prompt are shorter, to fit a list. */
export const PROMPT_TITLE_MAX = 60;

/**
 * A title from a prompt: whitespace collapsed, control characters dropped, and a long prompt cut at a word boundary
 * (when one is near) with an ellipsis. '' when nothing printable is left.
 */
export function titleFromPrompt(text: string, max = PROMPT_TITLE_MAX): string {
  const clean = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').replace(/\s+/g, ' ').trim();
  const chars = [...clean];
  if (chars.length <= max) return clean;
  const head = chars.slice(0, max - 1).join('');
  const space = head.lastIndexOf(' ');
  const cut = space >= max / 2 ? head.slice(0, space) : head;
  return `${cut.replace(/[\s,.;:!?-]+$/, '')}…`;
}
