/** The AI versions a thread can be opened for. */
export interface AiVersion {
  aiCode: string;
  aiVersionCode: string;
  title: string;
}

export const AI_VERSIONS: readonly AiVersion[] = [
  { aiCode: 'stablediffusion', aiVersionCode: 'stablediffusion_text2img', title: 'New thread with Stable Diffusion Image Generation' },
];

export function findAiVersion(code: string): AiVersion | undefined {
  return AI_VERSIONS.find((v) => v.aiVersionCode === code);
}
