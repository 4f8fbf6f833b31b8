// POST /api/matrix and GET /api/matrix/<id> (docs/api.md, "The matrix").
import { request } from "../api/client";
import type { JobSubmission, Matrix, MatrixAxis, MatrixEnvelope, MatrixSubmitted } from "../api/types";

export const matrixApi = {
  submit: (body: { base: JobSubmission; axes: MatrixAxis[] }) => request<MatrixSubmitted>("POST", "/api/matrix", body),
  get: (id: string): Promise<Matrix> => request<MatrixEnvelope>("GET", `/api/matrix/${id}`).then((r) => r.matrix),
};
