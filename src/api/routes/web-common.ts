/** Response schemas shared by the account and auth routes. */
import { ErrorBody, ValidationErrorBody } from '../schemas.ts';

export const accountErrors = {
  401: { description: 'Not logged in: no valid session cookie or bearer token', ...ErrorBody },
  403: { description: 'Cookie-authenticated write without the session CSRF token (X-CSRF-Token)', ...ErrorBody },
  404: { description: 'Not found (or owned by another account)', ...ErrorBody },
  422: { description: 'Invalid input', ...ValidationErrorBody },
};
