// Roles whose day is a list of cases and the steps they may take on them (a supervisor verifying, a
// department's staff claiming and reporting in, street and community officers summoning and urging) work
// in the field app's case list, which offers exactly the actions the API allows them.
export async function start() {
  location.replace("/app/field");
  return new Promise(() => {});  // the page is leaving: nothing more to draw here
}
