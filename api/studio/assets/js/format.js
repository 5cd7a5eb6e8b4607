// How times and dates read on the pages.

/** `ms` as m:ss, or h:mm:ss past an hour; negative values read as 0:00. */
export function clock(ms) {
  const total = Math.max(0, Math.round(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${seconds}` : `${minutes}:${seconds}`;
}

/** An ISO date as the reader's local date and time. */
export function when(iso) {
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** A human name for a session status. */
export function statusLabel(status) {
  return (
    {
      created: "Not started",
      live: "Live",
      processing: "Preparing the recording",
      ready: "Ready",
      failed: "Recording failed",
    }[status] ?? status
  );
}
