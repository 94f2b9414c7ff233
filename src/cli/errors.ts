/**
 * @file UserError: a problem the user can fix (a wrong flag, a missing file). The CLI prints its
 * one-line message, without a stack trace, and exits with status 2.
 */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UserError";
  }
}
