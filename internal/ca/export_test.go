package ca

// FailureBurst is how many failed requests one host may make before it is
// rate limited.
const FailureBurst = failureBurst
