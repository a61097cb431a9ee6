// Snapshot directories shared by the server's snapshot routes and a cluster node's (src/cluster):
// the name a snapshot gets when the request names none, and the directory as a download (a
// POSIX ustar archive built in memory: the console's download, and moving a snapshot to another
// server's data directory).
// Thread-safety: pure functions over the file system.
#pragma once

#include <string>

#include "server/reply.h"
#include "sextant/status.h"

namespace sextant::server {

// "COLLECTION-YYYYmmdd-HHMMSS-XXXX" (UTC, 4 random hex digits): a valid snapshot name.
std::string NewSnapshotName(const std::string& collection);

// The directory `dir` (subdirectories included) as a tar archive whose entries start with
// `name`/, in path order. FailedPrecondition when it would be larger than 256 MiB (naming the
// directory to copy instead); IOError when a file cannot be read.
Result<std::string> TarSnapshot(const std::string& dir, const std::string& name);

// 200 with the archive (application/x-tar, as an attachment NAME.tar), or the error's reply.
Reply SnapshotArchiveReply(const std::string& dir, const std::string& name);

}  // namespace sextant::server
