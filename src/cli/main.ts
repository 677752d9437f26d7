/**
 * The sdapi command line (bin/sdapi.js runs it). Every command and subcommand has --help; `sdapi --version` prints
 * the version. Errors are one line on stderr, `sdapi <command>: <message>`: exit code 2 for bad input (options,
 * values, configuration), 1 for failures.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import type { RuntimeOverrides } from '../composition/runtime.ts';
import { ConfigError } from '../config/config-error.ts';
import type { EnvSource } from '../config/env-schema.ts';
import { readEnvironment, type Environment } from '../config/load-config.ts';
import { projectRoot } from '../config/project-root.ts';
import { isAppError, StartupError } from '../domain/errors.ts';
import type { CliContext } from './cli-context.ts';
import { ExitCode, UsageError } from './cli-error.ts';
import { generateCommand, tokenizeCommand } from './commands/engine.commands.ts';
import { enginesCommand } from './commands/engines.command.ts';
import { invitesCommand } from './commands/invites.command.ts';
import { serveCommand } from './commands/serve.command.ts';
import { tokensCommand } from './commands/tokens.command.ts';
import { usersCommand } from './commands/users.command.ts';
import { workerCommand } from './commands/worker.command.ts';
import { processIo, type Io } from './io.ts';

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export interface CliOptions {
  io?: Io;
  /** The variables to configure from (tests); by default the process environment over .env (readEnvironment()). */
  env?: EnvSource;
  /** Test entry scripts only (test/helpers/sdapi-test.ts): parts of the runtime to replace. */
  overrides?: RuntimeOverrides;
}

export async function main(argv: string[], options: CliOptions = {}): Promise<number> {
  const io = options.io ?? processIo;
  let environment: Environment;
  try {
    environment = options.env ? { env: options.env } : readEnvironment();
  } catch (err) {
    return report(io, 'sdapi', err);
  }
  const ctx: CliContext = { io, env: environment.env, envFile: environment.file, overrides: options.overrides };
  const program = buildProgram(ctx);
  let running = 'sdapi';
  program.hook('preAction', (_root, action) => void (running = commandPath(action)));
  try {
    if (argv.length === 0) {
      ctx.io.err(program.helpInformation().trimEnd());
      return EXIT_USAGE;
    }
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    return report(ctx.io, running, err);
  }
}

export function buildProgram(ctx: CliContext): Command {
  const program = new Command('sdapi')
    .description('Self-hosted, multi-tenant Stable Diffusion image generation')
    .version(packageVersion(), '-V, --version', 'print the version')
    .addCommand(serveCommand(ctx))
    .addCommand(workerCommand(ctx))
    .addCommand(usersCommand(ctx))
    .addCommand(tokensCommand(ctx))
    .addCommand(enginesCommand(ctx))
    .addCommand(invitesCommand(ctx))
    .addCommand(generateCommand(ctx))
    .addCommand(tokenizeCommand(ctx));
  configure(program, ctx.io);
  return program;
}

/** Every command: no process.exit (errors come back to main), help and parse errors in our one-line style. */
function configure(command: Command, io: Io): void {
  const name = commandPath(command);
  command
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (text) => io.out(text.trimEnd()),
      writeErr: (text) => io.err(text.trimEnd()),
      outputError: (text) => io.err(`${name}: ${oneLine(text.replace(/^error: /, ''))}`),
    });
  for (const sub of command.commands) configure(sub, io);
}

function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

function report(io: Io, command: string, err: unknown): number {
  if (err instanceof CommanderError) {
    // Help and version were printed on request; a parse error was printed by outputError above.
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
    return EXIT_USAGE;
  }
  if (err instanceof ExitCode) return err.code;
  if (err instanceof StartupError) {
    // A start-up check: one line per problem (a registry may have several), then exit 2.
    for (const problem of err.problems) io.err(`${command}: ${oneLine(problem)}`);
    return EXIT_USAGE;
  }
  if (err instanceof UsageError || err instanceof ConfigError) {
    io.err(`${command}: ${oneLine(err.message)}`);
    return EXIT_USAGE;
  }
  if (isAppError(err)) {
    const detail = err.fields ? Object.values(err.fields).flat()[0] : undefined;
    io.err(`${command}: ${oneLine(detail && detail !== err.message ? `${err.message} ${detail}` : err.message)}`);
    return err.status < 500 ? EXIT_USAGE : EXIT_FAILURE;
  }
  if (err instanceof Error && err.name === 'EngineError') {
    io.err(`${command}: ${oneLine(err.message)}`);
    // Everything but a failure while running is the caller's input (a wrong folder, option or value).
    return Reflect.get(err, 'code') === 'runtime_error' ? EXIT_FAILURE : EXIT_USAGE;
  }
  io.err(`${command}: ${oneLine(err instanceof Error ? err.message : String(err))}`);
  return EXIT_FAILURE;
}

function oneLine(text: string): string {
  return text.split('\n')[0].trim();
}

function packageVersion(): string {
  const pkg: unknown = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8'));
  const version = typeof pkg === 'object' && pkg !== null ? Reflect.get(pkg, 'version') : undefined;
  return typeof version === 'string' ? version : '0.0.0';
}
