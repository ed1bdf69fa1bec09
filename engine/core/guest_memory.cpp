#include "engine/core/guest_memory.h"

#include <fmt/format.h>

#include <stdexcept>
#include <sys/mman.h>

namespace vmmu {

GuestMemory::GuestMemory(uint64_t bytes)
    : size_(bytes), watch_(bytes / kPageSize4K, 0), ever_watched_(bytes / kPageSize4K, 0),
      trapped_(bytes / kPageSize4K, 0) {
    if (bytes == 0 || bytes % (uint64_t{2} << 20) != 0)
        throw std::invalid_argument(
            fmt::format("guest memory size {:#x} must be a non-zero multiple of 2 MiB", bytes));
    // NORESERVE: the buffer is committed page by page as the guest touches it.
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        throw std::runtime_error(fmt::format("cannot reserve {} MiB of guest memory", bytes >> 20));
    base_ = static_cast<uint8_t*>(p);
}

GuestMemory::~GuestMemory() {
    if (base_) munmap(base_, size_);
}

void GuestMemory::read(GuestPhys pa, void* dst, uint64_t len) const {
    if (!contains(pa, len))
        throw std::out_of_range(
            fmt::format("guest-physical read of {} bytes at {:#x} is outside guest memory ({:#x})",
                        len, pa.value(), size_));
    // memcpy with a null pointer is undefined even for 0 bytes (an empty vector's data()).
    if (len != 0) std::memcpy(dst, base_ + pa.value(), len);
}

void GuestMemory::write(GuestPhys pa, const void* src, uint64_t len) {
    if (!contains(pa, len))
        throw std::out_of_range(
            fmt::format("guest-physical write of {} bytes at {:#x} is outside guest memory ({:#x})",
                        len, pa.value(), size_));
    if (len != 0) std::memcpy(base_ + pa.value(), src, len);
}

} // namespace vmmu
