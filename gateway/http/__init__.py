"""The HTTP doors: the participants' mTLS API (VSP push, pull, status, raw POST), the ops port."""
