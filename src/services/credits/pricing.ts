/** Credit price of a request: `images × max(1, round(steps × width × height / 1024² / 9))` (the tutorial request costs 10). */
export function requestCost(options: { images: number; steps: number; width: number; height: number }): number {
  const perImage = Math.max(1, Math.round((options.steps * options.width * options.height) / (1024 * 1024) / 9));
  return options.images * perImage;
}
