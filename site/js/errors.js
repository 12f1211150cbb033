// One error type for everything the pages report to a person: a message that names the problem.
export class PywgslError extends Error {
  constructor(message, { offset = null, kind = "error" } = {}) {
    super(offset === null ? message : `${message} (at byte ${offset})`);
    this.name = "PywgslError";
    this.offset = offset;
    this.kind = kind;
  }
}
