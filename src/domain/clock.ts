/** The time source of everything that stamps or compares times; tests inject a controllable one. */
export type Clock = () => Date;

export const systemClock: Clock = () => new Date();
