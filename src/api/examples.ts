/**
 * OpenAPI examples: the published tutorial's own request and answers (thread, request entry, entries with the
 * response), so Swagger UI shows what a real exchange looks like instead of placeholders.
 */
const HOST = 'http://127.0.0.1:8080';
const THREAD = '44142638-4934-4bf5-9be7-b4b5a6368f44';
const REQUEST = 'c7c088d3-7644-4385-b77c-a3ee98c4eed2';
const RESPONSE = 'a9e17dcc-a162-41ed-a1b4-94ecc40cdf90';
const IMAGE = (id: string) => `${HOST}/storage/stablediffusion_text2img/${id}.png`;

export const tutorialRequestBody = {
  type: 'request',
  engine: 'stable-diffusion-xl-1024-v0-9',
  resolution: '1024x1024',
  prompts: [
    { text: 'Delorean hacking time', weight: 1 },
    { text: 'Clock', weight: -1 },
  ],
  images: 2,
  steps: 45,
  style: 'neon-punk',
};

export const tutorialThread = {
  guid: THREAD,
  ai_code: 'stablediffusion',
  ai_version_code: 'stablediffusion_text2img',
  title: 'New thread with Stable Diffusion Image Generation',
  created_at: '2023-07-13T19:56:25.000000Z',
  updated_at: '2023-07-13T19:56:25.000000Z',
};

const requestContent = {
  prompts: tutorialRequestBody.prompts,
  engine: 'stable-diffusion-xl-1024-v0-9',
  style: 'neon-punk',
  images: 2,
  steps: 45,
  resolution: '1024x1024',
};

export const tutorialRequestEntry = {
  guid: REQUEST,
  thread_guid: THREAD,
  type: 'request',
  error: null,
  content: requestContent,
  waiting_response: true,
  credits: 0,
  created_at: '2023-07-13T19:56:25.000000Z',
  status: 'queued',
  progress: null,
};

const tutorialImages = [
  { id: '2212c664-7d5b-4fe5-b240-1f5e46e2e70e', filesize: 1409734, seed: 1229873561 },
  { id: 'e65893b4-acfb-459d-9ee4-796d724b9689', filesize: 1685147, seed: 1229873562 },
].map((image) => ({
  url: IMAGE(image.id),
  thumbnail_url: `${IMAGE(image.id)}.thumbnail.jpg`,
  dimensions: '1024x1024',
  filesize: image.filesize,
  seed: image.seed,
  finish_reason: 'SUCCESS',
}));

export const tutorialEntries = [
  { ...tutorialRequestEntry, waiting_response: false, status: 'done' },
  {
    guid: RESPONSE,
    thread_guid: THREAD,
    type: 'response',
    error: null,
    content: tutorialImages,
    waiting_response: false,
    credits: 10,
    created_at: '2023-07-13T19:57:09.000000Z',
    status: 'done',
    progress: null,
    request_guid: REQUEST,
  },
];

export const galleryImages = tutorialImages.map((image, position) => ({
  entry_guid: REQUEST,
  thread_guid: THREAD,
  thread_title: 'Delorean hacking time',
  position,
  url: image.url,
  thumbnail_url: image.thumbnail_url,
  dimensions: image.dimensions,
  filesize: image.filesize,
  seed: image.seed,
  prompt: 'Delorean hacking time',
  created_at: '2023-07-13T19:57:09.000000Z',
}));

export const pageMetaExample = { current_page: 1, per_page: 20, total: 2, last_page: 1 };

export const validationExample = {
  message: 'The images may not be greater than 10. (and 2 more errors)',
  errors: {
    images: ['The images may not be greater than 10.'],
    steps: ['The steps must be at least 1.'],
    resolution: ['The resolution must look like WIDTHxHEIGHT, e.g. 1024x1024.'],
  },
};

export const engineExample = {
  id: 'stable-diffusion-xl-1024-v0-9',
  name: 'Stable Diffusion XL 0.9',
  description: 'Text to image, 1024 px class',
  type: 'PICTURE',
  model: { name: 'demo', family: 'sd1', native_resolution: '64x64', default_sampler: 'euler' },
  model_error: null,
  native_resolution: '64x64',
  upscaled: true,
  resolutions: ['1024x1024', '1152x896', '896x1152', '1216x832', '832x1216', '1344x768', '768x1344', '1536x640', '640x1536'],
  steps: { min: 10, max: 150, default: 50 },
  cfg_scale: { min: 0, max: 35, default: 7 },
  samplers: ['euler', 'euler_a', 'ddim', 'dpmpp_2m'],
  styles: ['enhance', 'anime', 'photographic', 'digital-art', 'comic-book', 'fantasy-art', 'line-art', 'analog-film', 'neon-punk', 'isometric', 'low-poly', 'origami', 'modeling-compound', 'cinematic', '3d-model', 'pixel-art', 'tile-texture'],
  inputs: { text_to_image: true, image_to_image: true, inpainting: 'blend', hires: true },
};

export const accountExample = { email: 'you@example.com', credits: 90, priority: 'normal', max_running: 2, max_queued: 20, running: 1, queued: 3 };
