// The SIDs a kernel object's DACL allows anything to, for the pipe security
// tests ("S-1-5-18", ...). Windows only.
#pragma once

#include "dllbridge/wire/win32.hpp"

#include <aclapi.h>
#include <sddl.h>

#include <set>
#include <string>

#include <gtest/gtest.h>

namespace dllbridge::test {

inline std::set<std::string> granted_sids(HANDLE h) {
  PACL dacl = nullptr;
  PSECURITY_DESCRIPTOR sd = nullptr;
  std::set<std::string> out;
  if (::GetSecurityInfo(h, SE_KERNEL_OBJECT, DACL_SECURITY_INFORMATION, nullptr, nullptr, &dacl, nullptr,
                        &sd) != ERROR_SUCCESS) {
    ADD_FAILURE() << "GetSecurityInfo failed";
    return out;
  }
  for (DWORD i = 0; dacl && i < dacl->AceCount; ++i) {
    void* ace = nullptr;
    if (!::GetAce(dacl, i, &ace) || static_cast<ACE_HEADER*>(ace)->AceType != ACCESS_ALLOWED_ACE_TYPE)
      continue;
    wchar_t* text = nullptr;
    if (::ConvertSidToStringSidW(&static_cast<ACCESS_ALLOWED_ACE*>(ace)->SidStart, &text)) {
      out.insert(dllbridge::win::narrow(text));
      ::LocalFree(text);
    }
  }
  ::LocalFree(sd);
  return out;
}

}  // namespace dllbridge::test
