// A thin typed client over the REST API. Every error becomes an ApiError carrying the
// server's message and the field it names.
import type {
  Deleted,
  ErrorBody,
  Health,
  ImageDetail,
  ImageEnvelope,
  ImagePage,
  JobEnvelope,
  JobPage,
  JobSubmitted,
  ParsedMetadata,
  Providers,
  Styles,
} from "./schema.generated";
import type { JobSubmission } from "./types";
import { accountsMode, askForToken, authHeaders, csrfHeaders, getToken, signedOut } from "./auth";
import { rebase, withBase } from "./base";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export async function request<T>(method: string, url: string, body?: unknown, init?: RequestInit): Promise<T> {
  let response: Response;
  const send = () =>
    fetch(withBase(url), {
      method,
      headers: {
        ...(body !== undefined && !(body instanceof FormData) ? { "Content-Type": "application/json" } : {}),
        ...authHeaders(),
        ...csrfHeaders(method),
      },
      credentials: "same-origin",
      body: body === undefined ? undefined : body instanceof FormData ? body : JSON.stringify(body),
      ...init,
    });
  try {
    response = await send();
    // with accounts a 401 means the session is gone: the sign-in page, not the token prompt
    if (response.status === 401 && accountsMode()) signedOut();
    else if (response.status === 401 && (await askForToken(getToken() !== null))) response = await send();
  } catch {
    throw new ApiError(0, "network", "The server cannot be reached. Is Atelier running?");
  }
  const text = await response.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    // the Error shape, unless something between us and the server answered
    const err = (data as { error?: Partial<ErrorBody> } | null)?.error;
    throw new ApiError(
      response.status,
      err?.code ?? "http_" + response.status,
      err?.message ?? `The server answered ${response.status} ${response.statusText}`.trim(),
      err?.field,
    );
  }
  return rebase(data) as T;
}

export interface ImageFilters {
  q?: string;
  provider?: string;
  model?: string;
  style?: string;
  aspect_ratio?: string;
  favorite?: boolean;
  from?: string;
  to?: string;
  session?: string;
  /** a board's id: only its images (accounts) */
  board?: string;
}

export function filterParams(filters: ImageFilters): URLSearchParams {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(filters)) {
    if (value === undefined || value === "" || value === false) continue;
    params.set(key, value === true ? "true" : String(value));
  }
  return params;
}

export const api = {
  health: () => request<Health>("GET", "/api/health"),
  providers: () => request<Providers>("GET", "/api/providers").then((r) => r.providers),
  styles: () => request<Styles>("GET", "/api/styles").then((r) => r.styles),
  submit: (body: JobSubmission) => request<JobSubmitted>("POST", "/api/jobs", body),
  job: (id: string) => request<JobEnvelope>("GET", `/api/jobs/${id}`).then((r) => r.job),
  jobs: (session: string, limit = 50) =>
    request<JobPage>("GET", `/api/jobs?${new URLSearchParams({ session, limit: String(limit) })}`),
  cancel: (id: string) => request<JobEnvelope>("POST", `/api/jobs/${id}/cancel`).then((r) => r.job),
  retry: (id: string) => request<JobSubmitted>("POST", `/api/jobs/${id}/retry`),
  images: (filters: ImageFilters, cursor: string | null, limit = 100) => {
    const params = filterParams(filters);
    params.set("limit", String(limit));
    if (cursor) params.set("cursor", cursor);
    return request<ImagePage>("GET", `/api/images?${params}`);
  },
  image: (id: string) => request<ImageDetail>("GET", `/api/images/${id}`),
  setFavorite: (id: string, favorite: boolean) => request<ImageEnvelope>("PATCH", `/api/images/${id}`, { favorite }),
  remove: (id: string) => request<Deleted>("DELETE", `/api/images/${id}`),
  /** one request for a selection: the server moves them all to the trash */
  removeMany: (ids: string[]) => request<Deleted>("POST", "/api/images/delete", { ids }),
  restore: (id: string) => request<ImageEnvelope>("POST", `/api/images/${id}/restore`),
  parseMetadata: (file: File) => {
    const form = new FormData();
    form.append("file", file);
    return request<ParsedMetadata>("POST", "/api/metadata/parse", form);
  },
};

export function exportUrl(params: URLSearchParams): string {
  return withBase(`/api/export.zip?${params}`);
}
