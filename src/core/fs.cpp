#include "core/fs.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "core/check.h"

namespace moe {
namespace {

std::string errno_text() {
  return std::strerror(errno);
}

// The directory holding `path` ("." for a bare file name), for the temp file and the dir fsync.
std::string parent_dir(const std::string& path) {
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

// What a file that is not a regular file is, for messages.
const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "a special file";
}

// Opens a regular file for reading and sets `size` to its length; anything else throws. O_NONBLOCK
// keeps open() itself from waiting for a writer when the path is a FIFO (it changes nothing for
// regular files).
int open_for_reading(const std::string& path, uint64_t& size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  MOE_CHECK(fd >= 0, "cannot open ", path, ": ", errno_text());
  struct stat st {};
  const bool stat_ok = ::fstat(fd, &st) == 0;
  if (!stat_ok || !S_ISREG(st.st_mode)) {
    const std::string why =
        stat_ok ? str_cat("it is ", file_kind(st.st_mode), ", not a regular file") : errno_text();
    ::close(fd);
    fail("cannot read ", path, ": ", why);
  }
  size = static_cast<uint64_t>(st.st_size);
  return fd;
}

}  // namespace

std::string read_file(const std::string& path) {
  uint64_t size = 0;
  const int fd = open_for_reading(path, size);
  std::string out;
  out.reserve(size);
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::string why = errno_text();
      ::close(fd);
      fail("cannot read ", path, ": ", why);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

ReadableFile::ReadableFile(const std::string& path) : path_(path) {
  fd_ = open_for_reading(path, size_);
}

ReadableFile::~ReadableFile() {
  ::close(fd_);
}

bool ReadableFile::read_at(uint64_t offset, void* dst, size_t n) const {
  char* out = static_cast<char*>(dst);
  size_t done = 0;
  while (done < n) {
    const ssize_t got = ::pread(fd_, out + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    MOE_CHECK(got >= 0, "cannot read ", path_, ": ", errno_text());
    if (got == 0) return false;
    done += static_cast<size_t>(got);
  }
  return true;
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
  AtomicFileWriter writer(path);
  writer.append(bytes);
  writer.commit();
}

AtomicFileWriter::AtomicFileWriter(std::string path)
    : path_(std::move(path)), tmp_(str_cat(path_, ".tmp.", ::getpid())) {
  // The rename would replace a device or FIFO of that name (as root, /dev/null itself) with a
  // regular file. A directory in the way makes the rename fail on its own.
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode) &&
      !S_ISLNK(st.st_mode))
    fail("cannot write ", path_, ": it is ", file_kind(st.st_mode), ", not a regular file");
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  MOE_CHECK(fd_ >= 0, "cannot write ", path_, ": cannot create ", tmp_, ": ", errno_text());
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_.c_str());
}

void AtomicFileWriter::append(std::string_view bytes) {
  MOE_CHECK(fd_ >= 0, "cannot write ", path_, ": already committed");
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    MOE_CHECK(n > 0, "cannot write ", path_, ": ", n < 0 ? errno_text() : "short write");
    done += static_cast<size_t>(n);
  }
}

void AtomicFileWriter::write_at(uint64_t offset, std::string_view bytes) {
  MOE_CHECK(fd_ >= 0, "cannot write ", path_, ": already committed");
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n =
        ::pwrite(fd_, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    MOE_CHECK(n > 0, "cannot write ", path_, ": ", n < 0 ? errno_text() : "short write");
    done += static_cast<size_t>(n);
  }
}

void AtomicFileWriter::commit() {
  MOE_CHECK(fd_ >= 0, "cannot write ", path_, ": already committed");
  MOE_CHECK(::fsync(fd_) == 0, "cannot write ", path_, ": fsync failed: ", errno_text());
  const int rc = ::close(fd_);  // reports delayed write failures
  fd_ = -1;
  MOE_CHECK(rc == 0, "cannot write ", path_, ": close failed: ", errno_text());
  MOE_CHECK(::rename(tmp_.c_str(), path_.c_str()) == 0, "cannot write ", path_,
            ": rename failed: ", errno_text());
  committed_ = true;
  sync_path(parent_dir(path_));  // durability of the rename
}

MappedFile::MappedFile(const std::string& path) : path_(path) {
  uint64_t size = 0;
  const int fd = open_for_reading(path, size);
  size_ = static_cast<size_t>(size);
  if (size_ > 0) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      std::string why = errno_text();
      ::close(fd);
      fail("cannot map ", path, " into memory: ", why);
    }
    data_ = static_cast<const char*>(p);
  }
  ::close(fd);  // the mapping stays valid without the descriptor
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<char*>(data_), size_);
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : path_(std::move(other.path_)), data_(other.data_), size_(other.size_) {
  other.data_ = nullptr;
  other.size_ = 0;
}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) ::munmap(const_cast<char*>(data_), size_);
    path_ = std::move(other.path_);
    data_ = other.data_;
    size_ = other.size_;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

void sync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  MOE_CHECK(fd >= 0, "cannot open ", path, ": ", errno_text());
  // EINVAL, EROFS: this file system does not support synchronisation (fsync(2)).
  const bool ok = ::fsync(fd) == 0 || errno == EINVAL || errno == EROFS;
  const std::string why = ok ? "" : errno_text();
  ::close(fd);
  MOE_CHECK(ok, "cannot flush ", path, " to disk: ", why);
}

void make_dirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  MOE_CHECK(!ec, "cannot create directory ", path, ": ", ec.message());
  MOE_CHECK(std::filesystem::is_directory(path, ec), "cannot create directory ", path,
            ": a file with that name exists");
}

}  // namespace moe
