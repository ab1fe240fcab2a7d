import type { ServerResponse } from 'node:http';

const CONTENT_TYPE = 'application/json; charset=utf-8';

/**
 * Writes `body` as a JSON response with `status`: the response Express's
 * `res.status(status).json(body)` sends under the kit's settings (no ETag, no
 * JSON spaces, replacer or escape), written straight to Node's response.
 * `res.json` first looks up four app settings, parses and formats the content
 * type to add its charset and checks request freshness, on every request.
 *
 * Differences from `res.json`, on purpose: the app's `json spaces`,
 * `json replacer` and `json escape` settings are not read, and no answer is
 * turned into a 304 (the kit's answers carry no ETag or Last-Modified; Express
 * would still answer `If-None-Match: *` with an empty 304).
 *
 * A HEAD request gets the headers without the body (Node drops it); 204 and
 * 304 carry no body and no content headers, 205 an empty body.
 *
 * @example
 * sendJson(res, 200, { id, name });
 */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  // Checked before anything is set, so a bad status becomes the error handler's 500.
  if (!Number.isInteger(status) || status < 100 || status > 999) throw new RangeError(`invalid HTTP status ${status}`);
  res.statusCode = status;
  if (status === 204 || status === 304) {
    res.end();
    return;
  }
  if (status === 205) {
    res.setHeader('content-length', 0);
    res.end();
    return;
  }
  // `undefined` (and functions) have no JSON text: an empty body, as Express sends.
  const text = JSON.stringify(body) ?? '';
  res.setHeader('content-type', CONTENT_TYPE);
  res.setHeader('content-length', Buffer.byteLength(text));
  res.end(text);
}
