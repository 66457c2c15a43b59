#!/usr/bin/perl
# A stand-in for the seed's credential broker (seed 000: GET /token?installation_id=ID with
# "Authorization: Bearer $BROKER_SECRET" -> {"token": "...", "expires_at": "..."}; TinyClaw's
# broker/index.js, lucianHymer/tinyclaw b64de8c, answers 401 without the right bearer). It mints
# a fake token per installation id instead of asking GitHub, and logs one line per request.
use strict;
use warnings;
use IO::Socket::INET;

my $secret = $ENV{BROKER_SECRET} // die "BROKER_SECRET is not set\n";
my $server = IO::Socket::INET->new(LocalPort => 3000, Listen => 16, ReuseAddr => 1)
    or die "listen: $!\n";
$| = 1;
print "broker stand-in listening on 3000\n";
while (my $c = $server->accept) {
    my $line = <$c> // next;
    my %h;
    while (my $l = <$c>) {
        $l =~ s/\r?\n$//;
        last if $l eq '';
        my ($k, $v) = split /:\s*/, $l, 2;
        $h{lc $k} = $v if defined $v;
    }
    my ($status, $body);
    my $auth = $h{authorization} // '';
    if ($line !~ m{^GET /token\?installation_id=(\d+) HTTP/}) {
        ($status, $body) = ('404 Not Found', '{"error":"not found"}');
    } elsif ($auth ne "Bearer $secret") {
        ($status, $body) = ('401 Unauthorized', '{"error":"Unauthorized"}');
    } else {
        ($status, $body) = ('200 OK', qq({"token":"ghs_standin_$1","expires_at":"2099-01-01T00:00:00Z"}));
    }
    print "request: ${\ ($line =~ s/\r?\n$//r)} -> $status\n";
    print $c "HTTP/1.1 $status\r\nContent-Type: application/json\r\nContent-Length: "
        . length($body) . "\r\nConnection: close\r\n\r\n$body";
    close $c;
}
