import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, configPath, loadConfig, parseConfig } from './config.ts';

const ids = ['12D3KooWDemdn6ajgFYf7xhSa8RZzD4kSqVqe2uUjn4ivpibigLG', '12D3KooWFb8hMMMXdCcAo1n5v77UzM4mwooBP1dUxqSXDD17hKTx', '12D3KooWQ4kSqVqe2uUjn4ivpibigLGDemdn6ajgFYf7xhSa8RZz'];
const minimal = `swarm: { name: field-test }\nvoters: [${ids.join(', ')}]\n`;

function problems(text: string): string {
  try {
    parseConfig(text, 'config.yaml', '/etc/covey');
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.message;
  }
  assert.fail('the config was accepted');
}

test('a minimal config gets sensible defaults for everything a first run needs', () => {
  const c = parseConfig(minimal, 'config.yaml', '/etc/covey');
  assert.equal(c.swarm.name, 'field-test');
  assert.deepEqual(c.voters.map((v) => v.id), ids);
  assert.deepEqual(c.voters[0].addrs, []);
  assert.equal(c.http.listen, '127.0.0.1:7070');
  assert.equal(c.log.level, 'info');
  assert.equal(c.consensus.requestTimeoutMs, 5000);
  assert.equal(c.faultInjection, false);
  assert.equal(configPath(c, c.dataDir), '/etc/covey/data');
  assert.equal(configPath(c, '/abs/key'), '/abs/key');
});

test('voters may carry their addresses', () => {
  const c = parseConfig(`swarm: { name: a }\nvoters:\n  - { id: ${ids[0]}, addrs: [/ip4/10.0.0.1/tcp/4001] }\n  - ${ids[1]}\n  - ${ids[2]}\n`, 'c', '/');
  assert.deepEqual(c.voters[0].addrs, ['/ip4/10.0.0.1/tcp/4001']);
});

test('errors name the field, what was wrong and the fix', () => {
  assert.match(problems('swarm: { name: a }\n'), /voters: missing; list the voters' peer ids .* or set swarm\.expectVoters: 3/);
  assert.match(problems(`swarm: { name: a }\nvoters: [${ids[0]}]\n`), /voters: list at least 3 voters/);
  assert.match(problems(`swarm: { name: a }\nvoters: [${ids[0]}, nope, ${ids[2]}]\n`), /voters\[1\]\.id: expected a libp2p peer id/);
  assert.match(problems(minimal + 'htpp: { listen: 1.2.3.4:80 }\n'), /\(top level\): unknown field "htpp"; check the spelling/);
  assert.match(problems(minimal + 'http: { listen: "localhost" }\n'), /http\.listen: expected host:port/);
  assert.match(problems(minimal + 'log: { level: loud }\n'), /log\.level: /);
  assert.match(problems(minimal + 'listen: [tcp:4001]\n'), /listen\[0\]: expected a multiaddr/);
  assert.match(problems('swarm: { name: "Not OK" }\n' + minimal.split('\n')[1]), /swarm\.name: expected a short lowercase name/);
  assert.match(problems(`swarm: { name: a }\nvoters: [${ids[0]}, ${ids[1]}, ${ids[0]}]\n`), /listed twice/);
});

test('swarm.expectVoters stands in for the voters list: exclusive with it, within the voters\' bounds', () => {
  const c = parseConfig('swarm: { name: a, expectVoters: 3 }\n', 'c', '/');
  assert.equal(c.swarm.expectVoters, 3);
  assert.deepEqual(c.voters, [], 'no voters until the swarm has formed');
  assert.match(problems(`swarm: { name: a, expectVoters: 3 }\nvoters: [${ids.join(', ')}]\n`), /voters and swarm\.expectVoters: give one of them, not both/);
  assert.match(problems('swarm: { name: a, expectVoters: 2 }\n'), /swarm\.expectVoters: expect at least 3 voters/);
  assert.match(problems('swarm: { name: a, expectVoters: 17 }\n'), /swarm\.expectVoters: at most 16 voters/);
  assert.match(problems('swarm: { name: a, expectVoters: three }\n'), /swarm\.expectVoters: expected a whole number of voters/);
  assert.match(problems('swarm: { name: a, expectVoters: 3.5 }\n'), /swarm\.expectVoters: expected a whole number of voters/);
});

test('listening beyond localhost requires a token', () => {
  assert.match(problems(minimal + 'http: { listen: 0.0.0.0:7070 }\n'), /http\.token: required because http\.listen \(0\.0\.0\.0:7070\) is reachable/);
  const c = parseConfig(minimal + 'http: { listen: 0.0.0.0:7070, token: aaaaaaaaaaaaaaaaaaaa }\n', 'c', '/');
  assert.equal(c.http.token, 'aaaaaaaaaaaaaaaaaaaa');
  assert.match(problems(minimal + 'http: { listen: 0.0.0.0:7070, token: short }\n'), /http\.token: use a token of at least 16/);
});

test('broken YAML and a missing file say where and what to do', () => {
  assert.match(problems('swarm: [\n'), /config\.yaml: not valid YAML at line \d/);
  assert.match(problems('- just\n- a list\n'), /expected a YAML mapping/);
  assert.throws(() => loadConfig('/nonexistent/covey.yaml'), /no such config file; run `covey init/);
  const dir = mkdtempSync(join(tmpdir(), 'covey-config-'));
  writeFileSync(join(dir, 'c.yaml'), minimal);
  assert.equal(loadConfig(join(dir, 'c.yaml')).baseDir, dir);
});

test('plugins: module paths with options, a bare string for short, enabled by default', () => {
  assert.deepEqual(parseConfig(minimal, 'c', '/').plugins, []);
  const c = parseConfig(minimal + 'plugins:\n  - { module: ./plugins/heartbeat.ts, options: { everyMs: 5000 } }\n  - module: covey-plugin-survey\n    enabled: false\n  - ./plugins/other.ts\n', 'c', '/');
  assert.deepEqual(c.plugins, [
    { module: './plugins/heartbeat.ts', options: { everyMs: 5000 }, enabled: true },
    { module: 'covey-plugin-survey', enabled: false },
    { module: './plugins/other.ts', enabled: true },
  ]);
});

test('plugins: bad entries name plugins[i] and the field', () => {
  assert.match(problems(minimal + 'plugins: [ { options: {} } ]\n'), /plugins\[0\]\.module: missing; this field is required/);
  assert.match(problems(minimal + 'plugins: [ { module: "" } ]\n'), /plugins\[0\]\.module: expected the plugin's module/);
  assert.match(problems(minimal + 'plugins: [ { module: 7 } ]\n'), /plugins\[0\]\.module: expected the plugin's module/);
  assert.match(problems(minimal + 'plugins:\n  - ./a.ts\n  - { module: ./b.ts, enabled: maybe }\n'), /plugins\[1\]\.enabled: expected true or false/);
  assert.match(problems(minimal + 'plugins: [ { module: ./a.ts, opts: {} } ]\n'), /plugins\[0\]: unknown field "opts"; check the spelling/);
  assert.match(problems(minimal + 'plugins: [ 42 ]\n'), /plugins\[0\]: expected a mapping such as \{ module:/);
  assert.match(problems(minimal + 'plugins: { module: ./a.ts }\n'), /plugins: /);
});

test('devices: none by default; entries are checked by the device registry, defaults filled in', () => {
  assert.deepEqual(parseConfig(minimal, 'c', '/').devices, []);
  const c = parseConfig(minimal + [
    'devices:',
    '  - { driver: sim-autopilot, name: autopilot, home: { lat: 47.4, lon: 8.5 }, maxSpeed: 15 }',
    '  - { driver: gpio-out, name: led, line: 17 }',
    '  - { driver: mavlink, name: fc, serial: { path: /dev/ttyACM0, baudRate: 115200 } }',
    '',
  ].join('\n'), 'c', '/');
  assert.deepEqual(c.devices, [
    { driver: 'sim-autopilot', name: 'autopilot', home: { lat: 47.4, lon: 8.5 }, maxSpeed: 15 },
    { driver: 'gpio-out', name: 'led', chip: 'gpiochip0', line: 17 },
    { driver: 'mavlink', name: 'fc', serial: { path: '/dev/ttyACM0', baudRate: 115200 } },
  ]);
});

test('devices: bad entries name devices[i], the device, the field and the fix', () => {
  const dev = (lines: string) => problems(minimal + 'devices:\n' + lines);
  assert.match(dev('  - { driver: gpio-output, name: led, line: 17 }\n'), /devices\[0\] \("led"\)\.driver: unknown driver "gpio-output" \(known: sim-autopilot, .*gpio-out/);
  assert.match(dev('  - { name: led, line: 17 }\n'), /devices\[0\] \("led"\)\.driver: missing; name the device's driver \(one of sim-autopilot/);
  assert.match(dev('  - { driver: gpio-out, name: led }\n'), /devices\[0\] \("led"\)\.line: missing; this field is required/);
  assert.match(dev('  - { driver: gpio-out, name: Led, line: 1 }\n'), /devices\[0\] \("Led"\)\.name: device name: lowercase letters/);
  assert.match(dev('  - { driver: gpio-out, name: led, line: 1, colour: red }\n'), /devices\[0\] \("led"\): unknown field "colour"; check the spelling/);
  assert.match(dev('  - { driver: gpio-out, name: led, line: 1 }\n  - { driver: gpio-in, name: led, line: 2 }\n'), /devices\[1\] \("led"\)\.name: duplicate device name "led"/);
  assert.match(dev('  - { driver: sim-autopilot, name: ap, home: { lat: 147, lon: 8 } }\n'), /devices\[0\] \("ap"\)\.home\.lat: /);
  assert.match(dev('  - { driver: mavlink, name: fc, udp: {}, serial: { path: /dev/x, baudRate: 57600 } }\n'), /devices\[0\] \("fc"\)\.serial: give either udp or serial, not both/);
  assert.match(dev('  - 42\n'), /devices\[0\]: expected a mapping such as \{ driver: sim-autopilot/);
  assert.match(problems(minimal + 'devices: { driver: gpio-out, name: led, line: 1 }\n'), /devices: expected a list of devices/);
  // Every problem is listed, not only the first.
  assert.match(dev('  - { driver: gpio-out, name: a }\n  - { driver: nope, name: b }\n'), /2 problems:\n {2}devices\[0\] \("a"\)\.line: .*\n {2}devices\[1\] \("b"\)\.driver: unknown driver "nope"/);
});

test('the Foxglove bridge is off by default, loopback on 8765 when asked for, and refuses other addresses', () => {
  assert.equal(parseConfig(minimal, 'c', '/').foxglove, undefined);
  assert.equal(parseConfig(minimal + 'foxglove: {}\n', 'c', '/').foxglove?.listen, '127.0.0.1:8765');
  assert.equal(parseConfig(minimal + 'foxglove: { listen: "[::1]:9000" }\n', 'c', '/').foxglove?.listen, '[::1]:9000');
  assert.match(problems(minimal + 'foxglove: { listen: 0.0.0.0:8765 }\n'), /foxglove\.listen: 0\.0\.0\.0:8765 is reachable from other machines.*no authentication.*SSH tunnel/);
  assert.match(problems(minimal + 'foxglove: { listen: 8765 }\n'), /foxglove\.listen: expected host:port/);
  assert.match(problems(minimal + 'foxglove: yes\n'), /foxglove: expected a mapping such as \{ listen: 127\.0\.0\.1:8765 \}/);
  assert.match(problems(minimal + 'foxglove: { port: 8765 }\n'), /foxglove/);
});
