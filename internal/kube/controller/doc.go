// Package controller holds what hopseal's controller writes to the cluster,
// which only the elected leader does: the trust bundle ConfigMap in every
// namespace with injection, and the Accepted condition of hopseal's
// policies. Reading (the mesh stream, the CA, the webhook) happens on
// every replica.
package controller
