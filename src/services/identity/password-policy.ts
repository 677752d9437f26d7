/**
 * What a new password must be, after NIST SP 800-63B §5.1.1.2: at least PASSWORD_MIN characters (every character
 * counts, spaces and emoji included), not a password known from breaches (the ~49,000 most common ones, from
 * @zxcvbn-ts/language-common), and not the account's own email or name. No composition rules and no expiry, as
 * the guideline asks.
 */
export const PASSWORD_MIN = 10;
export const PASSWORD_MAX = 256;

/** Words of this service a password may not be (NIST: "context-specific words, such as the name of the service"). */
const SERVICE_WORDS = ['sdapi', 'stablediffusion', 'stable diffusion', 'stablediffusionapi'];

let commonPasswords: Promise<ReadonlySet<string>> | undefined;

/** The breach list, loaded on first use (≈25 ms, 49k lowercase entries) and kept for the life of the process. */
function loadCommonPasswords(): Promise<ReadonlySet<string>> {
  commonPasswords ??= import('@zxcvbn-ts/language-common').then((m) => new Set(m.dictionary['passwords-common']));
  return commonPasswords;
}

/** Every reason `password` may not be used for the account `email` (empty when it may). */
export async function passwordProblems(password: string, context: { email?: string } = {}): Promise<string[]> {
  // Length in code points, as a person counts characters (an emoji is one).
  const length = [...password].length;
  if (length < PASSWORD_MIN || password.length > PASSWORD_MAX) {
    return [`The password must be between ${PASSWORD_MIN} and ${PASSWORD_MAX} characters.`];
  }
  const lower = password.toLowerCase();
  const problems: string[] = [];
  const email = context.email?.trim().toLowerCase();
  if (email && (lower === email || lower === email.split('@')[0] || lower.replace(/\s+/g, '') === email)) {
    problems.push('The password may not be your email address or the name in it.');
  }
  if (SERVICE_WORDS.includes(lower) || new Set(lower).size === 1) {
    problems.push('The password is too easy to guess: choose a longer phrase of unrelated words.');
  } else if ((await loadCommonPasswords()).has(lower)) {
    problems.push('The password is one of the most common passwords (known from data breaches): choose another.');
  }
  return problems;
}
