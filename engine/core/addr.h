// The three address spaces of a virtualized machine, as three types that never mix silently.
//
// GuestVirt: what guest instructions use (gVA). GuestPhys: what the guest's page tables produce
// (gPA). HostPhys: what the (modelled) host memory is addressed with (hPA). Arithmetic inside
// one space is allowed (address + offset, difference of two addresses); crossing spaces needs a
// translation, so passing a GuestPhys where a HostPhys is expected does not compile.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>

namespace vmmu {

template <class Tag> class Address {
public:
    constexpr Address() = default;
    constexpr explicit Address(uint64_t value) : value_(value) {}

    constexpr uint64_t value() const { return value_; }

    constexpr Address operator+(uint64_t offset) const { return Address(value_ + offset); }
    constexpr Address operator-(uint64_t offset) const { return Address(value_ - offset); }
    constexpr uint64_t operator-(Address other) const { return value_ - other.value_; }
    constexpr Address& operator+=(uint64_t offset) {
        value_ += offset;
        return *this;
    }
    constexpr auto operator<=>(const Address&) const = default;

    // Page arithmetic for a page of 2^shift bytes.
    constexpr uint64_t page_number(unsigned shift = 12) const { return value_ >> shift; }
    constexpr uint64_t page_offset(unsigned shift = 12) const {
        return value_ & ((uint64_t{1} << shift) - 1);
    }
    constexpr Address page_base(unsigned shift = 12) const {
        return Address(value_ & ~((uint64_t{1} << shift) - 1));
    }

private:
    uint64_t value_ = 0;
};

struct GuestVirtTag {};
struct GuestPhysTag {};
struct HostPhysTag {};

using GuestVirt = Address<GuestVirtTag>;
using GuestPhys = Address<GuestPhysTag>;
using HostPhys = Address<HostPhysTag>;

constexpr unsigned kPageShift4K = 12;
constexpr unsigned kPageShift2M = 21;
constexpr unsigned kPageShift1G = 30;
constexpr uint64_t kPageSize4K = uint64_t{1} << kPageShift4K;

} // namespace vmmu

template <class Tag> struct std::hash<vmmu::Address<Tag>> {
    size_t operator()(const vmmu::Address<Tag>& a) const noexcept {
        return std::hash<uint64_t>{}(a.value());
    }
};
