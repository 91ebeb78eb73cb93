// `covey new plugin NAME [--dir D]`: writes a new plugin package (agent/cli/plugin-template.ts
// says what is in it) whose own `npm test` passes as written. Exit codes: 0 written, 2 a bad name
// or a directory that is not empty.

import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';

// The same rule as definePlugin's (agent/plugins/api.ts pluginNamePattern), repeated so that this
// module, loaded with every `covey` call, loads nothing but commander.
const pluginName = /^[a-z0-9][a-z0-9-]{0,62}$/;
// npm's rule for a package name: lowercase, URL-safe, optionally scoped, at most 214 characters.
const packageName = /^(@[a-z0-9-~][a-z0-9-._~]*\/)?[a-z0-9-~][a-z0-9-._~]*$/;

interface NewPluginOptions { dir?: string; package?: string; json?: boolean }

function isEmptyOrAbsent(dir: string): boolean {
  try {
    return readdirSync(dir).length === 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw new InvalidArgumentError(`--dir ${dir}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

export function newCommand(): Command {
  const cmd = new Command('new').description('make something new from a template');
  cmd.command('plugin <name>')
    .description('write a new plugin package (TypeScript, covey as a peer dependency, unit and simulation tests, README) whose `npm test` passes as written')
    .option('--dir <dir>', 'where to write it (default: ./covey-plugin-NAME); must be empty or absent')
    .option('--package <name>', 'the npm package name (default: covey-plugin-NAME)')
    .option('--json', 'print what was written as JSON')
    .action(async (name: string, o: NewPluginOptions, self: Command) => {
      try {
        const coveyVersion = self.parent?.parent?.version() ?? '0.1.0';
        const { dir, packageName: pkg, files } = await scaffold(name, o, coveyVersion);
        if (o.json === true) process.stdout.write(JSON.stringify({ plugin: name, package: pkg, dir, files }, null, 2) + '\n');
        else process.stdout.write(`wrote plugin "${name}" (package ${pkg}) in ${dir}: ${files.join(', ')}\nnext: cd ${dir} && npm install && npm test\n`);
      } catch (err) {
        process.stderr.write(`covey new plugin: ${(err as Error).message}\n`);
        process.exitCode = err instanceof InvalidArgumentError ? 2 : 1;
      }
    });
  return cmd;
}

async function scaffold(name: string, o: NewPluginOptions, coveyVersion: string): Promise<{ dir: string; packageName: string; files: string[] }> {
  if (!pluginName.test(name)) throw new InvalidArgumentError(`plugin name "${name}": use a short lowercase name (letters, digits, dashes; at most 63), for example "tempwatch"`);
  const pkg = o.package ?? `covey-plugin-${name}`;
  if (pkg.length > 214 || !packageName.test(pkg)) throw new InvalidArgumentError(`--package "${pkg}": not a valid npm package name (lowercase, no spaces; @scope/name for a scoped one)`);
  const dir = resolve(o.dir ?? pkg.replace(/^@[^/]+\//, ''));
  if (!isEmptyOrAbsent(dir)) throw new InvalidArgumentError(`${dir} exists and is not empty; choose another --dir`);
  const { pluginTemplate } = await import('./plugin-template.ts');
  const files = pluginTemplate({ name, packageName: pkg, coveyVersion });
  for (const [path, text] of Object.entries(files)) {
    const file = join(dir, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
  }
  return { dir, packageName: pkg, files: Object.keys(files) };
}
