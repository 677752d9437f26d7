/**
 * Where a model runs: `cpu`, `cuda` (= `cuda:0`) or `cuda:N`. The same spelling as the engine's Device, declared
 * here so that the configuration and the registry schema can check it without loading the engine.
 */
export type DeviceName = 'cpu' | 'cuda' | `cuda:${number}`;

export const DEVICE_PATTERN = '^(cpu|cuda(:\\d{1,3})?)$';

export function isDeviceName(value: string): value is DeviceName {
  return new RegExp(DEVICE_PATTERN).test(value);
}

/** `cuda` and `cuda:0` are the same GPU: one spelling for comparisons and display. */
export function normalDevice(device: DeviceName): DeviceName {
  return device === 'cuda' ? 'cuda:0' : device;
}
