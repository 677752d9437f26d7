/** The AI versions a thread can be opened for: what its requests do with images. */
export interface AiVersion {
  aiCode: string;
  aiVersionCode: string;
  title: string;
  /** text: no input image; image: an init_image, no mask; inpaint: an init_image and a mask. */
  inputs: 'text' | 'image' | 'inpaint';
}

export const AI_VERSIONS: readonly AiVersion[] = [
  { aiCode: 'stablediffusion', aiVersionCode: 'stablediffusion_text2img', title: 'New thread with Stable Diffusion Image Generation', inputs: 'text' },
  { aiCode: 'stablediffusion', aiVersionCode: 'stablediffusion_img2img', title: 'New thread with Stable Diffusion Image to Image', inputs: 'image' },
  { aiCode: 'stablediffusion', aiVersionCode: 'stablediffusion_inpaint', title: 'New thread with Stable Diffusion Inpainting', inputs: 'inpaint' },
];

export function findAiVersion(code: string): AiVersion | undefined {
  return AI_VERSIONS.find((v) => v.aiVersionCode === code);
}
