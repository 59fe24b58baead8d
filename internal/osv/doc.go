// Package osv imports security advisories in the OSV format (as published
// by osv.dev and the distributions' own feeds) and matches them against
// pending package updates.
//
// Choices this package makes, and why:
//
//   - Only ECOSYSTEM ranges are kept. Distribution records (Debian, Ubuntu,
//     AlmaLinux, Rocky, SUSE) describe their packages with ECOSYSTEM ranges
//     in the distribution's own version order; a SEMVER or GIT range in the
//     same record describes upstream source, which cannot be compared with
//     a dpkg or rpm version. Such ranges are validated and then skipped.
//   - Events are flattened in the order the record lists them (the schema
//     recommends sorted events, and the distributions publish them sorted):
//     an introduced event opens an interval, the next fixed or
//     last_affected event closes it. A limit event caps every interval of
//     its range; for ecosystems whose version order is known the cap is
//     applied while parsing, elsewhere limits are ignored (such records are
//     never matched against hosts).
//   - A malformed record fails the whole import, naming its file and the
//     JSON position or field path, so that nothing is half-applied and the
//     operator learns which file to fix or drop.
//   - A withdrawn record parses to an advisory with no affected packages:
//     importing it replaces an earlier copy, and it never matches.
//   - Severity: a CVSS vector (v2, v3.0, v3.1 or v4.0, each scored by
//     github.com/pandatix/go-cvss with its version's formula) gives the
//     record's score and word (critical >= 9, high >= 7, medium >= 4,
//     low > 0). Without a score the distribution's word is normalised
//     (Important -> high, Moderate -> medium, negligible -> low, ...); the
//     AlmaLinux and Rocky word comes from the summary's prefix. Per-package
//     priorities (Ubuntu's ubuntu_priority) are kept on the affected entry
//     and take precedence when an advisory is matched to an update.
//   - rpm versions without an epoch borrow the epoch of the version they are
//     compared with: dnf and many inventories print "3.0.1-41.el9" for a
//     package whose epoch is 1, while AlmaLinux records say
//     "1:3.0.1-43.el9_0". A package's epoch is fixed within a release, so a
//     missing epoch means "the same one", never "0 and therefore older".
//     dpkg always prints the epoch, so Debian versions compare strictly.
package osv
