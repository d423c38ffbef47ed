/** `--settings JSON` of the detection eval and the edge-pipeline bench (settings-arg.ts). */
import { describe, expect, it } from 'vitest';
import { takeSettingsArg } from './settings-arg.ts';

describe('takeSettingsArg', () => {
  it('takes the settings out and leaves the other arguments in order', () => {
    expect(
      takeSettingsArg(['0.3', '--settings', '{"plate":{"maxDetScale":0.75},"face":{"search":"tiles"}}', '5']),
    ).toEqual({ settings: { plate: { maxDetScale: 0.75 }, face: { search: 'tiles' } }, rest: ['0.3', '5'] });
  });

  it('is empty without the flag', () => {
    expect(takeSettingsArg(['--quick'])).toEqual({ settings: {}, rest: ['--quick'] });
  });

  it.each([
    ['no value', ['--settings'], /needs a JSON object/],
    ['not JSON', ['--settings', '{plate:'], /not JSON/],
    ['an array', ['--settings', '[1]'], /must be a JSON object/],
    ['null', ['--settings', 'null'], /must be a JSON object/],
    ['an unknown detector', ['--settings', '{"cars":{}}'], /unknown detector cars/],
  ])('refuses %s with a clear message', (_name, args, message) => {
    expect(() => takeSettingsArg(args)).toThrow(message);
  });
});
