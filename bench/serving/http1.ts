import { Socket } from 'node:net';

/**
 * A bare keep-alive HTTP/1.1 client connection for the open-loop generator: one request at a
 * time, requests written as prepared bytes, answers read by Content-Length. node:http's client
 * costs ~200 µs of CPU per request, which on a 2-core machine is taken from the server under test;
 * this costs a fraction of that. Chunked answers are not supported (none of the servers send them).
 */

/** The bytes of `POST path` with a JSON body. */
export function postRequest(host: string, path: string, body: string): Buffer {
  const payload = Buffer.from(body);
  const head = `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${payload.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), payload]);
}

/** Called with the answer's status, or -1 when the connection failed first. */
export type Done = (status: number) => void;

const HEADER_END = Buffer.from('\r\n\r\n');

export class Http1Connection {
  private socket: Socket | null = null;
  private buffered: Buffer = Buffer.alloc(0);
  private done: Done | null = null;

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}


  send(request: Buffer, done: Done): void {
    if (this.done !== null) throw new Error('one request at a time');
    this.done = done;
    (this.socket ??= this.connect()).write(request);
  }

  private connect(): Socket {
    const socket = new Socket();
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.read(chunk));
    // A failed or closed connection fails its request; the next send opens a new one.
    socket.on('error', () => {});
    socket.on('close', () => {
      if (this.socket === socket) this.socket = null;
      this.buffered = Buffer.alloc(0);
      this.finish(-1);
    });
    socket.connect(this.port, this.host);
    return socket;
  }

  private read(chunk: Buffer): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const end = this.buffered.indexOf(HEADER_END);
    if (end < 0) return;
    const head = this.buffered.toString('latin1', 0, end);
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (length === null) {
      this.socket?.destroy(new Error(`answer without Content-Length: ${head.slice(0, 200)}`));
      return;
    }
    const size = end + HEADER_END.length + Number(length[1]);
    if (this.buffered.length < size) return;
    this.buffered = this.buffered.subarray(size);
    this.finish(Number(head.slice(9, 12)));
  }

  private finish(status: number): void {
    const done = this.done;
    this.done = null;
    done?.(status);
  }
}
