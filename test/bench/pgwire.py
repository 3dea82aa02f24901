"""Minimal PostgreSQL client (protocol 3.0, simple query, COPY FROM STDIN).

Stdlib only, Unix socket, trust authentication: just what the benchmark
needs.  The benchmark talks to the server directly (instead of through psql)
so that it can time one statement precisely and read /proc of the backend
immediately before and after it, without extra round trips in the window.
"""
import socket
import struct


class PGError(Exception):
    def __init__(self, fields):
        self.fields = fields
        self.sqlstate = fields.get('C', '')
        msg = '%s: %s' % (fields.get('S', 'ERROR'), fields.get('M', '?'))
        if fields.get('D'):
            msg += ' (DETAIL: %s)' % fields['D']
        if fields.get('H'):
            msg += ' (HINT: %s)' % fields['H']
        super().__init__(msg)


def _fields(body):
    out = {}
    for part in body.split(b'\0'):
        if part:
            out[chr(part[0])] = part[1:].decode('utf-8', 'replace')
    return out


class Conn:
    def __init__(self, sockdir, port, user='postgres', dbname='postgres',
                 appname='pg_uring_bench', timeout=None):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect('%s/.s.PGSQL.%d' % (sockdir, port))
        self.rf = self.sock.makefile('rb', buffering=1 << 16)
        self.pid = None
        self.notices = []
        params = b''
        for k, v in (('user', user), ('database', dbname),
                     ('application_name', appname),
                     ('client_encoding', 'UTF8')):
            params += k.encode() + b'\0' + v.encode() + b'\0'
        params += b'\0'
        self.sock.sendall(struct.pack('!ii', 8 + len(params), 196608) + params)
        err = None
        while True:
            t, body = self._recv()
            if t == b'R':
                code = struct.unpack('!i', body[:4])[0]
                if code != 0:
                    raise RuntimeError('server asks for authentication (%d); '
                                       'the benchmark cluster uses trust' % code)
            elif t == b'K':
                self.pid, self.key = struct.unpack('!ii', body[:8])
            elif t == b'E':
                err = PGError(_fields(body))
                raise err
            elif t == b'Z':
                break

    def _recv(self):
        hdr = self.rf.read(5)
        if len(hdr) < 5:
            raise ConnectionError('server closed the connection')
        t = hdr[:1]
        n = struct.unpack('!i', hdr[1:])[0] - 4
        body = self.rf.read(n) if n else b''
        if len(body) < n:
            raise ConnectionError('server closed the connection')
        return t, body

    def query(self, sql):
        """Run one simple-protocol query string; return the rows of the last
        result set (lists of str/None).  Raises PGError on error."""
        data = sql.encode('utf-8') + b'\0'
        self.sock.sendall(b'Q' + struct.pack('!i', 4 + len(data)) + data)
        return self._results()

    def _results(self, copy_source=None):
        rows = []
        err = None
        while True:
            t, body = self._recv()
            if t == b'T':
                rows = []
            elif t == b'D':
                n = struct.unpack('!h', body[:2])[0]
                pos = 2
                row = []
                for _ in range(n):
                    ln = struct.unpack('!i', body[pos:pos + 4])[0]
                    pos += 4
                    if ln < 0:
                        row.append(None)
                    else:
                        row.append(body[pos:pos + ln].decode('utf-8', 'replace'))
                        pos += ln
                rows.append(row)
            elif t == b'E':
                err = PGError(_fields(body))
            elif t == b'N':
                self.notices.append(_fields(body).get('M', ''))
            elif t == b'G':             # CopyInResponse
                if copy_source is None:
                    msg = b'no COPY data source\0'
                    self.sock.sendall(b'f' + struct.pack('!i', 4 + len(msg)) + msg)
                else:
                    try:
                        for chunk in copy_source:
                            self.sock.sendall(b'd' + struct.pack('!i', 4 + len(chunk)) + chunk)
                        self.sock.sendall(b'c' + struct.pack('!i', 4))
                    except BaseException:
                        msg = b'client aborted COPY\0'
                        self.sock.sendall(b'f' + struct.pack('!i', 4 + len(msg)) + msg)
                        raise
            elif t == b'Z':
                if err:
                    raise err
                return rows
            # C (complete), I (empty), S (parameter), A (notify): ignored

    def copy_in(self, sql, chunks):
        data = sql.encode('utf-8') + b'\0'
        self.sock.sendall(b'Q' + struct.pack('!i', 4 + len(data)) + data)
        return self._results(copy_source=chunks)

    def scalar(self, sql):
        rows = self.query(sql)
        return rows[0][0] if rows else None

    def close(self):
        try:
            self.sock.sendall(b'X' + struct.pack('!i', 4))
        except OSError:
            pass
        try:
            self.rf.close()
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()
