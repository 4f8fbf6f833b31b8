// A scripted REST server for component tests: routes "METHOD /path" (query string ignored
// unless the route names one) answer JSON; every call is recorded with its headers and body.
import { vi } from "vitest";

export interface Call {
  method: string;
  url: string;
  path: string;
  headers: Record<string, string>;
  body: any;
  credentials?: RequestCredentials;
}

type Answer = { status?: number; body?: unknown } | ((call: Call) => { status?: number; body?: unknown });

export class FakeApi {
  calls: Call[] = [];
  routes = new Map<string, Answer>();

  on(route: string, answer: Answer): this {
    this.routes.set(route, answer);
    return this;
  }

  install(): this {
    vi.stubGlobal(
      "fetch",
      vi.fn(async (input: string, init: RequestInit = {}) => {
        const url = new URL(input, "http://studio.test");
        const method = (init.method ?? "GET").toUpperCase();
        const call: Call = {
          method,
          url: url.pathname + url.search,
          path: url.pathname,
          headers: { ...(init.headers as Record<string, string>) },
          body: typeof init.body === "string" ? JSON.parse(init.body) : init.body,
          credentials: init.credentials,
        };
        this.calls.push(call);
        const answer = this.routes.get(`${method} ${call.url}`) ?? this.routes.get(`${method} ${call.path}`);
        const { status = 200, body = null } = answer === undefined ? { status: 404, body: { error: { code: "not_found", message: "no route" } } } : typeof answer === "function" ? answer(call) : answer;
        return new Response(body === null ? null : JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
      }),
    );
    return this;
  }

  called(method: string, path: string): Call[] {
    return this.calls.filter((c) => c.method === method && c.path === path);
  }
}
