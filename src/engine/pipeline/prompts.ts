/** Turns the request's weighted prompts (and optional style preset) into the two sides the pipeline encodes. */
import { applyStyle } from './styles.ts';
import { splitPrompts, type PromptSides } from './conditioning.ts';
import type { WeightedPrompt } from '../types.ts';

/**
 * Style presets rewrite the text before encoding: every positive prompt goes through the preset's template;
 * negative prompts get the preset's negative text; with no negative prompt, the preset's negative text (if any)
 * becomes the negative prompt.
 */
export function promptSides(prompts: readonly WeightedPrompt[], style: string | undefined): PromptSides {
  const sides = splitPrompts(prompts);
  if (style === undefined) return sides;
  const positive = sides.positive.map((p) => ({ ...p, text: applyStyle(style, p.text, '').positive }));
  let negative = sides.negative.map((p) => ({ ...p, text: applyStyle(style, '', p.text).negative }));
  if (negative.length === 0) {
    const styleNegative = applyStyle(style, '', '').negative;
    if (styleNegative) negative = [{ text: styleNegative, weight: -1 }];
  }
  return { positive, negative };
}
