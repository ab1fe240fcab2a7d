import { describe, expect, it } from 'vitest';
import { matchOutput } from './match-output.js';

describe('matchOutput', () => {
  const actual = ['> npm run x', '', 'MODULE    LOCATION  URL', 'catalog   local     -', 'payments  remote    http://127.0.0.1:3003', '{"id":"5cc7","sku":"mug-01","stock":10}'].join('\n');

  it('finds every expected line in order, with … for any text and any run of spaces for aligned columns', () => {
    expect(matchOutput(['MODULE LOCATION URL', 'payments remote http://…:3003', '{"id":"…","sku":"mug-01",…}'], actual)).toBeUndefined();
    expect(matchOutput(['…', 'catalog local -'], actual)).toBeUndefined();
  });

  it('names the first expected line it cannot find, and lines must come in order and match whole', () => {
    expect(matchOutput(['payments remote …', 'catalog local -'], actual)).toEqual({ missing: 'catalog local -', matched: 1 });
    expect(matchOutput(['payments remote'], actual)).toEqual({ missing: 'payments remote', matched: 0 });
    expect(matchOutput(['{"id":"…","sku":"mug-02",…}'], actual)).toEqual({ missing: '{"id":"…","sku":"mug-02",…}', matched: 0 });
  });

  it('lets a UUID on the page stand for any UUID', () => {
    const out = '{"id":"ad185791-ca14-4110-8b98-4290165f5b95","status":"pending"}';
    expect(matchOutput(['{"id":"5cc73837-2968-4ec2-b690-4cd35681ad18","status":"pending"}'], out)).toBeUndefined();
    expect(matchOutput(['{"id":"5cc73837-2968-4ec2-b690-4cd35681ad18","status":"confirmed"}'], out)).toBeDefined();
    expect(matchOutput(['{"id":"not-a-uuid","status":"pending"}'], out)).toBeDefined();
    expect(matchOutput(['{"id":"5cc73837-…","status":"pending"}'], out)).toBeUndefined();
    expect(matchOutput(['{"id":"5cc73837-…","status":"confirmed"}'], out)).toBeDefined();
  });

  it('treats regular-expression characters in the page as plain text', () => {
    expect(matchOutput(['a.b (c) [d]*'], 'a.b (c) [d]*')).toBeUndefined();
    expect(matchOutput(['a.b'], 'axb')).toEqual({ missing: 'a.b', matched: 0 });
  });
});
